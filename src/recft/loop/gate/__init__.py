"""The gate's statistics, free of I/O: the promotion rule, the ledger's levels, dev's screen, power."""
