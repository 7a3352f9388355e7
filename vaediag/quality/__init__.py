"""Sample quality: FID by a pinned protocol (Heusel et al., 2017) and an offline proxy.

``frechet``  the Fréchet distance between Gaussians (pure numpy).
``features`` the FID Inception network and its preprocessing; the random-conv proxy.
``evaluate`` scoring a run's stage-1 samples, two-stage samples and reconstructions.
``table``    the paper's Table 1 from stored results, beside the published numbers.
``scores``   the typed results: ``Score`` (two image sets), ``RunScores`` (a run's sources).
"""

from vaediag.quality.features import InceptionFeatures, ProxyFeatures, find_inception_weights, inception_input
from vaediag.quality.frechet import frechet_distance, frechet_distance_features, gaussian_stats

__all__ = ["InceptionFeatures", "ProxyFeatures", "find_inception_weights", "inception_input",
           "frechet_distance", "frechet_distance_features", "gaussian_stats"]
