@problemName u
@classLabel true 1 2
@data
1.5,2.5,3.5:1
0,0,1,1,2:2
