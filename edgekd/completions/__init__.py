"""Teacher-generated data: stored completions, endpoint and local LLM teachers, datasets.

``edgekd completions import|pull|generate|stats|eval`` (``cli.py``) over the Python API
(``api.py``). A dataset is JSONL of chat records (``records.py``) with optional compact
top-k log-probs (``logprobs.py``); ``dataset.read_dataset`` is what students read.
"""
