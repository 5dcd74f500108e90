// The plate page's Print button: the browser's own print dialog (the page's print CSS leaves
// the plate alone on an A4 or A5 sheet).
(function () {
  var button = document.getElementById('print-plate');
  if (button) {
    button.addEventListener('click', function () { window.print(); });
  }
})();
