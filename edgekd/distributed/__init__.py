"""Distributed runs: the process group (``world``) and ``--nproc``'s launcher (``launch``)."""
