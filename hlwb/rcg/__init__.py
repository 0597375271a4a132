"""RCG on hlwb: generate representations, then images conditioned on them (docs/methods.md §7b).

    space      the standardised representation space, a uniform prior, Fréchet distance
    rdm        the representation diffusion model (RDM): train, DDIM-sample, save, load
    generator  the representation-conditioned BigGAN-style generator with classifier-free guidance
    posterior  the contrastive-softmax posterior: selection probabilities, rate and MI in bits
    views      RCG views, the ``rcg`` view strategy (registered in :data:`hlwb.views.STRATEGIES` on import)
"""

from .generator import (
    RepConditionedGenerator,
    RepDiscriminator,
    RepGANConfig,
    load_rep_generator,
    save_rep_generator,
    train_rep_gan,
)
from .posterior import (
    log_selection_probs,
    plugin_mi_bits,
    rate_bits,
    sample_selection,
    select,
    selection_probs,
)
from .rdm import (
    RDMConfig,
    RepresentationDiffusion,
    diffusion_loss,
    load_rdm,
    save_rdm,
    scaled_linear_betas,
    train_rdm,
)
from .space import disjoint_split, reference_fd, representation_fd, sphere_prior, standardize
from .views import RCGViews  # registers the "rcg" view strategy (hlwb.views.STRATEGIES)

__all__ = [
    "RCGViews", "RDMConfig", "RepConditionedGenerator", "RepDiscriminator", "RepGANConfig", "RepresentationDiffusion",
    "diffusion_loss", "disjoint_split", "load_rdm", "load_rep_generator", "log_selection_probs", "plugin_mi_bits", "rate_bits",
    "reference_fd", "representation_fd", "sample_selection", "save_rdm", "save_rep_generator",
    "scaled_linear_betas", "select", "selection_probs", "sphere_prior", "standardize", "train_rdm",
    "train_rep_gan",
]
