# comment
@problemName tiny
@timeStamps false
@missing true
@univariate false
@dimensions 2
@equalLength false
@classLabel true 1 2 a
@data
1,2,3:4,5,6:1
?,2:NaN,?:a
7:8,9,10,11:2
