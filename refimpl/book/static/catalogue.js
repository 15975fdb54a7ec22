// Filter the home page's catalogue table by free text, family, verification level and verdict.
document.addEventListener("DOMContentLoaded", function () {
  var table = document.getElementById("catalogue");
  if (!table) return;
  var rows = Array.prototype.slice.call(table.tBodies[0].rows);
  var text = document.getElementById("filter-text");
  var family = document.getElementById("filter-family");
  var verified = document.getElementById("filter-verified");
  var verdict = document.getElementById("filter-verdict");
  var count = document.getElementById("filter-count");
  function apply() {
    var words = text.value.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    rows.forEach(function (row) {
      var hay = row.textContent.toLowerCase();
      var ok = words.every(function (w) { return hay.indexOf(w) >= 0; })
        && (!family.value || row.dataset.family === family.value)
        && (!verified.value || row.dataset.verified === verified.value)
        && (!verdict.value || (" " + row.dataset.verdicts + " ").indexOf(" " + verdict.value + " ") >= 0);
      row.classList.toggle("hidden", !ok);
      if (ok) shown += 1;
    });
    count.textContent = shown + " of " + rows.length + " techniques";
  }
  [text, family, verified, verdict].forEach(function (el) {
    el.addEventListener("input", apply);
    el.addEventListener("change", apply);
  });
  apply();
});
