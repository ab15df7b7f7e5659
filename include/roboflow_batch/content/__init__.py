"""Never pay twice for the same content: the record of what a pipeline already processed, and its use."""
