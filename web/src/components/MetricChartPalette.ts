// Series colours for the charts. The first eight follow Okabe and Ito's palette for colour-blind viewers (with
// darker or lighter variants where a line needs 3:1 contrast on the chart's background); series after the
// palette's first eight are also dashed, so they stay apart when hues alone would not.

export const LIGHT_PALETTE: readonly string[] = [
  "#0072b2",
  "#d55e00",
  "#009e73",
  "#cc79a7",
  "#332288",
  "#b8860b",
  "#882255",
  "#117733",
  "#aa4499",
  "#cc6677",
  "#000000",
  "#999933",
];

export const DARK_PALETTE: readonly string[] = [
  "#56b4e9",
  "#e69f00",
  "#009e73",
  "#f0e442",
  "#cc79a7",
  "#ee6677",
  "#88ccee",
  "#ddcc77",
  "#44aa99",
  "#bbbbbb",
  "#d55e00",
  "#ee99aa",
];

/** The colour of the series with colour index `i` (stable per experiment within a chart). */
export function seriesColor(i: number, dark: boolean): string {
  const palette = dark ? DARK_PALETTE : LIGHT_PALETTE;
  return palette[((i % palette.length) + palette.length) % palette.length]!;
}

/** A dash pattern for series past the first eight, or undefined for a solid line. */
export function seriesDash(i: number): number[] | undefined {
  if (i < 8) return undefined;
  const patterns = [[6, 3], [2, 3], [8, 3, 2, 3]];
  return patterns[Math.floor((i - 8) / 4) % patterns.length];
}
