"""Diagnostics of a trained VAE (Dai & Wipf, Figure 1 and supplement section 5), one per module:

- :mod:`.gamma`     the decoder variance gamma over training (Theorem 3, Fig. 1 left); gamma_effective (eq. 73)
- :mod:`.eigen`     eigenvalues lambda_j of Sigma_z(x), r_hat (eq. 9; lambda_j < 1/2 by eq. 73 for any gamma), Fig. 10
- :mod:`.collapse`  KL per dimension, active units, I(x; z), importance-weighted log-likelihood, vs eq. (9)
- :mod:`.perturb`   decodes along single eigendirections (Theorem 4, Fig. 1 centre, supplement Fig. 9)
- :mod:`.spectrum`  singular values of aggregated-posterior samples vs N(0, I) (Fig. 1 right)
- :mod:`.summary`   :func:`diagnose` (any model meeting :mod:`vaediag.diagnostics.protocol`) and :func:`diagnose_run`
- :mod:`.adapt`     models and data of other shapes (pythae, Lightning, dicts, functions, DataLoaders); their
                    likelihood (Gaussian / Bernoulli), gamma, KL weight, data range and image shape
- :mod:`.protocol`  the protocol, the parsing of encoder / decoder outputs, eval mode during a diagnosis
- :mod:`.usage`     the clarity of r_hat (a band around 1/2) and per-input usage of each direction (eq. 9)
- :mod:`.fisher`    the Fisher calibration c of a Bernoulli decoder's encoder (eq. 73 with the Fisher metric)
- :mod:`.result`    :class:`Diagnosis`, what :func:`diagnose` returns: typed sections (:mod:`.sections`),
                    declared and serialised by :mod:`.schema`; :mod:`.rules` derives what the verdict's
                    rules derive (units, clarity, eq. 9); :mod:`.verdict` writes the sentences
- :mod:`.enhance`   the second stage (section 4) for a model vaediag did not train

Each module has pure array cores with known-answer tests and thin gatherers that run a model.
"""

from vaediag.diagnostics.eigen import count_below, eigen_summary, r_hat, tau_count
from vaediag.diagnostics.gamma import fit_effective_gamma, gamma_trajectory, gamma_verdict
from vaediag.diagnostics.perturb import perturb_directions
from vaediag.diagnostics.spectrum import gaussian_fit_kl, spectrum_gap, spectrum_summary
from vaediag.diagnostics.result import Diagnosis
from vaediag.diagnostics.summary import diagnose, diagnose_run, load_diagnostics

__all__ = ["eigen_summary", "r_hat", "tau_count", "count_below", "gamma_trajectory", "gamma_verdict",
           "fit_effective_gamma", "perturb_directions", "gaussian_fit_kl", "spectrum_gap", "spectrum_summary",
           "diagnose", "diagnose_run", "load_diagnostics", "Diagnosis"]
