// Live availability and counter for the public page. The page works without it: the form
// submits and the server answers; this only saves the reload and refreshes the counter.
(function () {
  var form = document.getElementById("check-form");
  var box = document.getElementById("result");
  var lang = document.documentElement.lang || "pt";
  if (form && box && window.fetch) {
    form.addEventListener("submit", function (ev) {
      var name = form.elements["name"].value.trim();
      if (!name) { return; }
      ev.preventDefault();
      fetch("/api/public/availability?lang=" + encodeURIComponent(lang) + "&name=" + encodeURIComponent(name))
        .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, j: j }; }); })
        .then(function (res) {
          var j = res.j;
          box.hidden = false;
          box.className = "result " + (j.available ? "free" : "taken");
          box.setAttribute("data-available", j.available ? "true" : "false");
          box.textContent = j.message || (j.detail || "");
          history.replaceState(null, "", "/?lang=" + lang + "&name=" + encodeURIComponent(name));
        })
        .catch(function () { form.submit(); });
    });
  }
  var count = document.getElementById("count");
  function refresh() {
    fetch("/api/public/stats").then(function (r) { return r.json(); }).then(function (j) {
      if (count) { count.textContent = j.domains.toLocaleString(lang === "pt" ? "pt-PT" : "en-GB"); }
      Object.keys(j.by_zone || {}).forEach(function (z) {
        var cell = document.querySelector('[data-zone="' + z + '"]');
        if (cell) { cell.textContent = j.by_zone[z].toLocaleString(lang === "pt" ? "pt-PT" : "en-GB"); }
      });
    }).catch(function () {});
  }
  if (count && window.fetch) { setInterval(refresh, 30000); }
})();
