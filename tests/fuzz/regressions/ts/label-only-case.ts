@problemName u
@classLabel true 1 2
@data
2
