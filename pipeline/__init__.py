"""klantsignaal pipeline: transport-free stages, the topology, and the runtimes that drive them."""
