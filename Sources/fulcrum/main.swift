import FulcrumCLI
print("fulcrum")
