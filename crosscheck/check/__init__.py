"""Checking one model: compare (measure), verdict (judge), harness (layer by layer against
torch), fd (finite differences), slips (name the mistake), report, spec_check (check a ModelSpec), byo
(bring your own network), user_code (calling it safely)."""
