//! The one integration-test binary (one link step): HTTP, CLI, conformance
//! against the official ATLAS files, and real-browser tests.

mod access;
mod api_assessment;
mod browser;
mod cli;
mod conformance;
mod contract;
mod detections;
mod helpers;
mod hostile_inputs;
mod http_api;
mod http_pages;
mod identity_provider;
mod postgres;
mod projector;
mod reports;
mod robustness;
mod security;
mod services;
mod tools;
mod trends;
mod workshop;
mod workshop_room;
