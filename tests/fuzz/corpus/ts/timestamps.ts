@timeStamps true
@classLabel true 1
@data
(1,2):1
