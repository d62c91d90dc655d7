//! svclab's bridge to Kubernetes manifests: [`import`] turns what a
//! customer sent (`kubectl get -o yaml`, a Helm or kustomize render) into a
//! commented suite, [`export`] turns a suite into manifests for a real
//! cluster. Both speak the Kubernetes API through `k8s-openapi`'s types.
pub mod export;
pub mod import;
