"""The rate laws of the syn3A model, as SBML formulas and as numbers for checking.

- **Polymerisation** (Hofmeyr, Gqwaka & Rohwer, FEBS Lett. 2013, "A generic rate equation
  for catalysed, template-directed polymerisation"; the form the Luthey-Schulten lab's
  models use for transcription, translation and replication). A polymerase adds monomers
  one by one; each addition of monomer ``i`` waits for it to bind (dissociation constant
  ``K_i``, pool ``x_i``) and then takes ``1/kcat``. The template's mean completion time is
  the sum over its ``L`` positions, and the first two monomers must bind together to
  start. So the completion rate per bound polymerase is::

      kcat / ( K_1 K_2 / (x_1 x_2)  +  sum_i n_i K_i / x_i  +  L - 1 )

  with ``n_i`` the template's count of monomer ``i``. With saturating pools it is
  ``kcat / (L - 1)``: one template per ``L/kcat`` seconds.

  Where each addition also waits for cofactors the law reads (translation in the
  coupled cell: two GTP and, for charging, one ATP per residue), each adds its own
  waiting time ``sum_j m_j L K_j / y_j`` to the sum, ``m_j`` per monomer added; so the
  rate goes to zero with the pool instead of drawing it below zero.
- **Common modular kinetics** (Liebermeister, Uhlendorf & Klipp, Bioinformatics 2010,
  "Modular rate laws for enzymatic reactions"), in the form the 2022 well-stirred
  model's balanced tables write it: `modular_formula`.
- **Bimolecular binding** with a second-order constant ``k`` in M^-1 s^-1, as a
  propensity on molecule counts in a volume ``V`` (litres): ``k / (N_A V) * n_a * n_b``.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Avogadro's number (2019 SI definition)
N_A = 6.02214076e23


def real(x: float) -> str:
    """A number as a real literal (``593.0``, not ``593``): SBML math reads it as a real,
    which the compiler replaces by a placeholder when it groups laws by shape."""
    return repr(float(x))


def polymerisation_formula(kcat: str, kd: str, counts: Mapping[str, str], length: str,
                           pools: Mapping[str, str], first: tuple[str, str],
                           cofactors: Mapping[str, tuple[float, str]] | None = None) -> str:
    """The completion rate per bound polymerase, as an SBML L3 formula.

    ``kcat``, ``kd`` and ``length`` are ids (or numbers); ``counts`` maps each monomer to
    the id of the template's count of it and ``pools`` to the id of its concentration (in
    the unit of ``kd``); ``first`` are the template's first two monomers. Counts are
    ids, not literals, so that the laws of all templates have one shape (equal literals
    would be merged into one placeholder and split the laws into many shapes) and
    compile as one vectorised group (`wholecell.compiler._program`). ``cofactors`` maps
    each cofactor's concentration (a formula) to (uses per monomer, the id of its K).
    """
    terms = " + ".join(f"{counts[m]} * {kd} / {pools[m]}" for m in sorted(counts))
    for pool, (per, k) in sorted((cofactors or {}).items()):
        terms += f" + {real(per)} * {length} * {k} / {pool}"
    a, b = pools[first[0]], pools[first[1]]
    init = f"{kd} * {kd} / ({a} * {b})" if a != b else f"{kd} * {kd} / {a}^2"
    return f"{kcat} / ({init} + {terms} + {length} - 1.0)"


def polymerisation_rate(kcat: float, kd: float, counts: Mapping[str, int],
                        pools: Mapping[str, float], first: tuple[str, str]) -> float:
    """The same rate as a number (for checks): see `polymerisation_formula`."""
    length = sum(counts.values())
    terms = sum(n * kd / pools[m] for m, n in counts.items())
    return kcat / (kd * kd / (pools[first[0]] * pools[first[1]]) + terms + length - 1)


def binding_formula(k: str, a: str, b: str, volume: str = "V") -> str:
    """Propensity of ``a + b`` binding with ``k`` in M^-1 s^-1, on counts in ``volume`` L."""
    return f"{k} / (N_A * {volume}) * {a} * {b}"


def binding_propensity(k: float, n_a: float, n_b: float, volume_l: float) -> float:
    """The same propensity as a number (for checks)."""
    return k / (N_A * volume_l) * n_a * n_b


def _saturation(c: str, k: str, n: int) -> str:
    """``sum_{j=0}^{n} (c/k)^j`` as a formula (``1 + c/k`` for one molecule)."""
    ratio = f"({c} / {k})"
    return "(1.0 + " + " + ".join(ratio if j == 1 else f"{ratio}^{j}"
                                  for j in range(1, n + 1)) + ")"


def convenience_formula(enzyme: str, kcat_f: str, kcat_r: str,
                        substrates: Mapping[str, tuple[str, int]],
                        products: Mapping[str, tuple[str, int]]) -> str:
    """Convenience kinetics (Liebermeister & Klipp, Theor. Biol. Med. Model. 2006), random
    order, as an SBML formula::

        E (kcat_f prod_i (s_i/K_i)^n_i - kcat_r prod_j (p_j/K_j)^m_j)
          / (prod_i sum_{k<=n_i} (s_i/K_i)^k + prod_j sum_{k<=m_j} (p_j/K_j)^k - 1)

    ``substrates`` and ``products`` map each concentration (a formula) to the id of its
    Michaelis constant and its stoichiometry. The result has the unit of ``enzyme`` per
    second (molecules/s for an enzyme count).
    """
    def side(terms):
        num = " * ".join(f"({c} / {k})" if n == 1 else f"({c} / {k})^{n}"
                         for c, (k, n) in terms.items()) or "1.0"
        den = " * ".join(_saturation(c, k, n) for c, (k, n) in terms.items()) or "1.0"
        return num, den

    sn, sd = side(substrates)
    pn, pd = side(products)
    return f"{enzyme} * ({kcat_f} * {sn} - {kcat_r} * {pn}) / ({sd} + {pd} - 1.0)"


def modular_formula(enzyme: str, kcat: str, keq: str, hco: str,
                    substrates: Mapping[str, tuple[str, int]],
                    products: Mapping[str, tuple[str, int]]) -> str:
    """Common modular kinetics as the 2022 balanced tables write it, an SBML formula::

        E kcat (keq^(h/2) prod_i s_i^n_i - keq^(-h/2) prod_j p_j^m_j)
          / sqrt(prod_i K_i^n_i prod_j K_j^m_j)
          / (prod_i (1 + (s_i/K_i)^n_i) + prod_j (1 + (p_j/K_j)^m_j) - 1)

    (the tables raise the ratio, not the sum, to the stoichiometry: ``1 + (c/K)^n``).
    ``substrates`` and ``products`` map each concentration (a formula) to the id of its
    Michaelis constant and its stoichiometry; the result has the unit of ``enzyme`` per
    second.
    """
    def power(x: str, n: int) -> str:
        return x if n == 1 else f"{x}^{n}"

    def side(terms):
        num = " * ".join(power(c, n) for c, (_, n) in terms.items()) or "1.0"
        den = " * ".join(f"(1.0 + {power(f'({c} / {k})', n)})"
                         for c, (k, n) in terms.items()) or "1.0"
        return num, den

    sn, sd = side(substrates)
    pn, pd = side(products)
    ks = " * ".join(power(k, n) for k, n in [*substrates.values(), *products.values()])
    return (f"{enzyme} * {kcat} * ({keq}^({hco} / 2.0) * {sn} - {keq}^(-{hco} / 2.0) * {pn})"
            f" / sqrt({ks}) / ({sd} + {pd} - 1.0)")
