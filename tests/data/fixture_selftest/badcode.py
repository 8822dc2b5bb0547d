x = 1
# expect: EQX404
y = 2
