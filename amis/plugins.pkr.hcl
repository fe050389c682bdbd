# Packer 1.7+ installs the amazon plugin from this (packer init amis/). Packer 1.6 has it
# built in and does not know this block: validate engine.pkr.hcl alone there.
packer {
  required_version = ">= 1.7.0"
  required_plugins {
    amazon = {
      version = ">= 1.3.0"
      source  = "github.com/hashicorp/amazon"
    }
  }
}
