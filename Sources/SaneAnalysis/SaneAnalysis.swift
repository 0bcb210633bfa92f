import SaneTensor
