@dimensions 99999999999999999999
@classLabel true 1
@data
1:1
