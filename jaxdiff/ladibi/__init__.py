"""LADiBI: blind inverse problems with a prompt-conditioned diffusion prior (PAPERS.md §10)."""
