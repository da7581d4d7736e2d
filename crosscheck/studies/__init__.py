"""The studies, each trained by both implementations: depth, stress, classifiers, descent;
records (what a run keeps), plots, run (print, plot and log each study for the CLI)."""
