"""Therapist accounts: password hashing now; login and sessions come with the pages."""
