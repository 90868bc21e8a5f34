"""Teachers: anything that maps inputs to logits, and the cache of their outputs."""
