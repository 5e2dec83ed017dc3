"""Recording: MixMonitor control, DSP (G.711, stereo merge, metrics), storage, index, QA."""
