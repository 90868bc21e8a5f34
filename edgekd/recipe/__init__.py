"""The recipe: one YAML file validated into typed, frozen config objects."""
