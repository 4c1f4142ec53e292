"""Spectrum plots return Figures whose drawn data are the results they were given."""

import jax
import numpy as np
import pytest

pytest.importorskip("matplotlib")

from matplotlib.figure import Figure

from jachess import spectral
from jachess.operators import Matrix
from jachess.plot._spectrum import eigenvalue_convergence, spectrum


def test_spectrum_and_convergence_figures():
    A = np.diag(np.r_[np.linspace(0.0, 1.0, 40), [3.0, 4.0]])
    result = spectral.eigsh(Matrix(A), 2, tol=1e-10, max_matvecs=60, return_history=True)
    values, residuals = result.history
    assert values.shape == (int(result.num_matvecs), 2)
    np.testing.assert_allclose(values[-1], result.eigenvalues)
    np.testing.assert_allclose(residuals[-1], result.residual_norms)
    figure = eigenvalue_convergence(result, reference=[3.0, 4.0])
    assert isinstance(figure, Figure) and len(figure.axes) == 2
    np.testing.assert_allclose(figure.axes[0].lines[1].get_ydata(), values[:, 1])

    density = spectral.density(Matrix(A), num_probes=4, num_steps=20, key=jax.random.key(0))
    figure = spectrum(density, eigenvalues=result.eigenvalues)
    assert isinstance(figure, Figure)
    np.testing.assert_allclose(figure.axes[0].lines[0].get_xdata(), density.grid)
    with pytest.raises(ValueError, match="return_history"):
        eigenvalue_convergence(spectral.eigsh(Matrix(A), 2, tol=1e-10, max_matvecs=60))
