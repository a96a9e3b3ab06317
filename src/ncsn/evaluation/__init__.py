"""Evaluation of sample sets (FID / KID, class coverage) and the study's Table 1, Figure 1 and Figure 2."""
