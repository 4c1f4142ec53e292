"""Layer 1: dense derivatives (JVP, VJP, gradient, HVP, Jacobian, Hessian, Taylor, slogdet)."""
