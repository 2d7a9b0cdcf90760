"""Tests of the foundation pages."""
