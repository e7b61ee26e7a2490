"""Making a candidate from pairs: the candidate interface, fitting (Lightning), losses, mining, structural negatives."""
