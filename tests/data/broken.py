import equinox as eqx

def f(:
    return eqx
