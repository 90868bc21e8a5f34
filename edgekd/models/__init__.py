"""Model zoo and model loading."""
