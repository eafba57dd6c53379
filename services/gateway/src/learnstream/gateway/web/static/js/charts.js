// Charts drawn with Plotly (served by the gateway from the plotly wheel, never a CDN).

const CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
const LAYOUT = {
  margin: { l: 48, r: 16, t: 16, b: 48 },
  paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
  font: { family: "system-ui, sans-serif", size: 13, color: "#1d2330" },
  legend: { orientation: "h", y: -0.25 },
};

export function plot(element, traces, layout = {}) {
  element.classList.add("chart");
  element.setAttribute("role", "img");
  if (!window.Plotly) {
    element.textContent = "The charting library did not load.";
    return;
  }
  window.Plotly.newPlot(element, traces, { ...LAYOUT, ...layout }, CONFIG);
}
