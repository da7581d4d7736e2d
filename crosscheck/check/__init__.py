"""Checking one model: compare (measure), verdict (judge), harness (layer by layer against
torch), fd (finite differences), slips (name the mistake), report, run (check a spec), byo
(bring your own network), user_code (calling it safely)."""
