// The relay console's one script. It only enhances: every page and form works without it.
// An element with data-live-url is refreshed in place every data-live-every seconds (the
// overview, a bulk replay's progress) until the fragment it gets carries data-live-done.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-live-url]").forEach(function (element) {
    if (element.hasAttribute("data-live-done")) {
      return;
    }
    var every = Math.max(1, Number(element.getAttribute("data-live-every")) || 5) * 1000;
    var refresh = function () {
      fetch(element.getAttribute("data-live-url"), { credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (!response.ok) {
            throw new Error(String(response.status));
          }
          return response.text();
        })
        .then(function (html) {
          element.innerHTML = html;
          element.removeAttribute("data-live-failed");
          if (!element.querySelector("[data-live-done]")) {
            setTimeout(refresh, every);
          }
        })
        .catch(function () {
          element.setAttribute("data-live-failed", "");
          setTimeout(refresh, every * 2);
        });
    };
    setTimeout(refresh, every);
  });
});
