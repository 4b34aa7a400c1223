"""The JCVI-syn3A genome: genes, their positions, and their nucleotide and amino-acid make-up.

A small reader of the GenBank flat-file format (NCBI record CP016816.2), enough for the
builder: the features (``gene``, ``CDS``, ``tRNA``, ``rRNA``, ``ncRNA``, ``tmRNA``) with
their location and qualifiers, and the chromosome sequence of the ``ORIGIN`` section.
Protein sequences are the records' own ``/translation`` qualifiers (translation table 4,
where UGA codes for tryptophan); a CDS flagged ``/pseudo`` has none and is not expressed.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..._errors import WholecellError

#: the RNA classes a gene can make, by GenBank feature key
RNA_KINDS = {"CDS": "mRNA", "tRNA": "tRNA", "rRNA": "rRNA", "ncRNA": "ncRNA", "tmRNA": "tmRNA"}
_COMPLEMENT = str.maketrans("ACGTacgt", "TGCAtgca")
_LOCATION = re.compile(r"^(complement\()?(?:join\()?<?(\d+)\.\.>?(\d+)\)?\)?$")


class GenomeError(WholecellError, ValueError):
    """A GenBank file the reader cannot use, naming the line or feature."""


@dataclass(frozen=True)
class Gene:
    """One expressed gene of the chromosome.

    Attributes:
        locus: the locus tag without its prefix (``"0001"`` for JCVISYN3A_0001).
        name: the gene symbol, or the locus tag where there is none.
        kind: ``"mRNA"`` (protein coding), ``"tRNA"``, ``"rRNA"``, ``"ncRNA"``, ``"tmRNA"``.
        start, end: 1-based, inclusive coordinates on the chromosome.
        strand: +1 or -1.
        rna: the transcript's base counts (A, C, G, U) on the coding strand.
        protein: the protein's amino-acid counts (one-letter codes); empty for RNA genes.
        product: the product's description.
        first: the transcript's first two nucleotides (and the protein's first two
            amino acids), which the polymerisation law's initiation term reads.
    """

    locus: str
    name: str
    kind: str
    start: int
    end: int
    strand: int
    rna: dict[str, int] = field(repr=False)
    protein: dict[str, int] = field(repr=False)
    product: str = ""
    first: tuple[str, str] = ("A", "A")
    first_aa: tuple[str, str] = ("M", "A")

    @property
    def length(self) -> int:
        """The transcript's length in nucleotides."""
        return self.end - self.start + 1

    @property
    def protein_length(self) -> int:
        """The protein's length in amino acids (0 for an RNA gene)."""
        return sum(self.protein.values())


@dataclass(frozen=True)
class Genome:
    """The chromosome's length and its expressed genes, in order of position."""

    length: int
    genes: tuple[Gene, ...]
    source: str
    sequence: str = field(default="", repr=False)

    def composition(self, start: int, end: int) -> dict[str, int]:
        """Base counts of the top strand from ``start`` to ``end`` (1-based, inclusive)."""
        c = Counter(self.sequence[start - 1: end])
        return {b: int(c.get(b, 0)) for b in "ACGT"}

    def by_locus(self) -> dict[str, Gene]:
        return {g.locus: g for g in self.genes}


def _features(lines: list[str]) -> list[tuple[str, str, dict[str, str]]]:
    """(key, location, qualifiers) of each feature in the FEATURES table."""
    out: list[tuple[str, str, dict[str, str]]] = []
    key = loc = None
    quals: dict[str, str] = {}
    last = None
    for line in lines:
        if len(line) > 5 and line[5] != " ":
            if key is not None:
                out.append((key, loc, quals))
            key, loc = line[5:21].strip(), line[21:].strip()
            quals, last = {}, None
        elif line[21:22] == "/":
            name, _, value = line[22:].partition("=")
            last = name
            quals[name] = value.strip()
        elif last is not None:
            sep = "" if last == "translation" else " "
            quals[last] += sep + line.strip()
        elif key is not None:
            loc += line.strip()
    if key is not None:
        out.append((key, loc, quals))
    return [(k, lo, {n: v.strip('"') for n, v in q.items()}) for k, lo, q in out]


def read_genbank(path: str | Path, prefix: str = "JCVISYN3A_") -> Genome:
    """Read a GenBank file: the chromosome length and the expressed genes.

    Raises:
        GenomeError: no sequence, a location the reader does not understand, or a
            protein-coding gene without a translation that is not flagged pseudo.
    """
    path = Path(path)
    text = path.read_text()
    head, sep, origin = text.partition("\nORIGIN")
    if not sep:
        raise GenomeError(f"{path}: no ORIGIN section (the chromosome sequence)")
    seq = re.sub(r"[^acgtnACGTN]", "", origin.split("//")[0]).upper()
    table = head.split("\nFEATURES", 1)
    if len(table) != 2:
        raise GenomeError(f"{path}: no FEATURES table")
    genes = []
    for key, loc, q in _features(table[1].splitlines()[1:]):
        if key not in RNA_KINDS or "pseudo" in q:
            continue
        m = _LOCATION.match(loc.replace(" ", ""))
        if m is None:
            raise GenomeError(f"{path}: feature {q.get('locus_tag', '?')}: location {loc!r}")
        start, end = int(m.group(2)), int(m.group(3))
        strand = -1 if m.group(1) else 1
        dna = seq[start - 1: end]
        if strand < 0:
            dna = dna.translate(_COMPLEMENT)[::-1]
        rna_seq = dna.replace("T", "U")
        rna = Counter(rna_seq)
        tag = q.get("locus_tag", "")
        if not tag.startswith(prefix):
            raise GenomeError(f"{path}: feature at {loc}: locus tag {tag!r} lacks {prefix!r}")
        protein: dict[str, int] = {}
        aa = "MA"
        if key == "CDS":
            if "translation" not in q:
                raise GenomeError(f"{path}: CDS {tag} has no translation and is not pseudo")
            protein = dict(Counter(q["translation"]))
            aa = q["translation"]
        genes.append(Gene(
            locus=tag[len(prefix):], name=q.get("gene", tag), kind=RNA_KINDS[key],
            start=start, end=end, strand=strand,
            rna={b: int(rna.get(b, 0)) for b in "ACGU"}, protein=protein,
            product=q.get("product", ""), first=(rna_seq[0], rna_seq[1]),
            first_aa=(aa[0], aa[1]),
        ))
    genes.sort(key=lambda g: g.start)
    return Genome(length=len(seq), genes=tuple(genes), source=str(path), sequence=seq)
