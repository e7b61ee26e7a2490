"""What `recft manage` shows: tables read from a registry and its history, never written to them."""
