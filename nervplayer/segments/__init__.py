"""Long clips in segments: scene cuts (cuts.py), cutting the clip into segments (split.py), and the segmented fit
(fit.py): one fit per segment, each a job on any executor (nervplayer/jobs), gathered into one ``.nerv``."""
