"""The documents' fixtures, shared by their test modules."""

from .test_documents import loop  # noqa: F401  (a fixture)
