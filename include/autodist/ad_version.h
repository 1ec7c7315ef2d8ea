/* ad_version.h - the autodist version every program reports */
#ifndef AD_VERSION_H
#define AD_VERSION_H

/* Keep in step with project(VERSION) in CMakeLists.txt. */
#define AD_VERSION "0.1.0"

#endif
