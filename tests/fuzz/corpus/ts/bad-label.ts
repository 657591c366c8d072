@classLabel true 1 2
@data
1,2:3
