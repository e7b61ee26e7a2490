"""Reading data: BEIR folders, (query, passage) pairs, and one spec for every data source."""
