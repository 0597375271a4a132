"""RCG on hlwb: generate representations, then images conditioned on them (METHODS.md §3).

    space      the standardised representation space, a uniform prior, Fréchet distance
    rdm        the representation diffusion model (RDM): train, DDIM-sample, save, load
    generator  the representation-conditioned BigGAN-style generator with classifier-free guidance
    posterior  the contrastive-softmax posterior: selection probabilities, rate and MI in bits
"""

from .rdm import (
    RDMConfig,
    RepresentationDiffusion,
    diffusion_loss,
    load_rdm,
    save_rdm,
    scaled_linear_betas,
    train_rdm,
)
from .space import reference_fd, representation_fd, sphere_prior, standardize

__all__ = [
    "RDMConfig", "RepresentationDiffusion", "diffusion_loss", "load_rdm", "reference_fd", "representation_fd",
    "save_rdm", "scaled_linear_betas", "sphere_prior", "standardize", "train_rdm",
]
