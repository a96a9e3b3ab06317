"""Sample quality: the domain classifier, torch-fidelity feature extractors, FID / KID, class coverage."""
