"""How the default knowledge bases get their statutes (see knowledge/README.md)."""
