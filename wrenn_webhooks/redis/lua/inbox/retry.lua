-- retry: make a pending or dead item due now. ARGV: 3 id. Returns 1, or 0 if not.
return revive(ARGV[3]) and 1 or 0
